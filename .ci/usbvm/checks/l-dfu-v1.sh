# l: a 4.8.1 camera on USB — the middle generation: protocol v1 like 4.5.x, but the 37C5
# USB identity and the OpenMV DFU bootloader like 5.x (openmv v4.6.0 … v4.8.1). It must
# enumerate as 37C5:124A (not 1209:ABD1) under cdc_acm, be probed as v1 with the DFU
# bootloader by `visreg devices`, and be flashed to 5.0.0 through the DFU bootloader
# (37C5:924A, nusb), never through the legacy CDC path; then back to 4.8.1 the same way.
# timeout: 120
. "$USBVM_SRC/.ci/usbvm/lib.sh"
start_sim cam --firmware 4.8.1 --run-seed 5
U=$(tty_usbdev "$cam_line") || fail "sim --usb printed '$cam_line', a tty with no USB device"
[ "$(vidpid_of "$U")" = "37c5:124a" ] || fail "4.8.1 runs as $(vidpid_of "$U"), not 37c5:124a"
S=$(cat "$U/serial")
"$V" devices --json >devices.json 2>devices.err || fail "visreg devices --json failed: $(tail -1 devices.err)"
entry=$(jq -c --arg s "$S" '[.devices[] | select(.serial == $s and .vid_pid != null)][0] // empty' devices.json)
[ -n "$entry" ] || fail "visreg devices does not list the 4.8.1 camera $S: $(cat devices.json)"
[ "$(jq -r .protocol <<<"$entry")" = v1 ] || fail "4.8.1 probed as protocol $(jq -r .protocol <<<"$entry"), not v1: $entry"
[ "$(jq -r .bootloader <<<"$entry")" = openmv-dfu ] || fail "4.8.1's bootloader shown as $(jq -r .bootloader <<<"$entry"), not openmv-dfu: $entry"
timed t "$V" flash 5.0.0 --serial "$S" >flash-up.log 2>&1 \
  || { tail -4 flash-up.log; fail "visreg flash 5.0.0 of the 4.8.1 camera failed: $(grep . flash-up.log | tail -1)"; }
grep -q "DFU bootloader .*writing 1 partition" flash-up.log || fail "the flash of the 4.8.1 camera did not go through its DFU bootloader: $(grep . flash-up.log | tail -3)"
! grep -q "CDC bootloader" flash-up.log || fail "the 4.8.1 camera was flashed down the legacy CDC path"
wait_firmware "$S" 5.0.0 20 || fail "after the flash, visreg devices does not show $S running 5.0.0"
timed t2 "$V" flash 4.8.1 --serial "$S" >flash-down.log 2>&1 \
  || { tail -4 flash-down.log; fail "visreg flash 4.8.1 of the 5.0.0 camera failed: $(grep . flash-down.log | tail -1)"; }
wait_firmware "$S" 4.8.1 20 || fail "after the flash, visreg devices does not show $S running 4.8.1"
note "4.8.1 (v1, 37C5:124A) probed as v1 + openmv-dfu; -> 5.0.0 via the DFU bootloader in $t s; 5.0.0 -> 4.8.1 in $t2 s"
