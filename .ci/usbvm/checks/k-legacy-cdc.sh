# k: a 4.5.x camera on USB (1209:ABD1, protocol v1) flashed to 5.0.0: it reboots into its
# legacy CDC bootloader (1209:ABD1, serial 000000000011 — told apart from other cameras by
# its USB port only), cdc_acm gives that a tty of its own, visreg writes through it, and the
# camera comes back as 37C5:124A running 5.0.0; then back to 4.5.9 through the DFU
# bootloader 5.0.0 has.
# timeout: 120
. "$USBVM_SRC/.ci/usbvm/lib.sh"
start_sim cam --firmware 4.5.9 --run-seed 3
U=$(tty_usbdev "$cam_line") || fail "sim --usb printed '$cam_line', a tty with no USB device"
[ "$(vidpid_of "$U")" = "1209:abd1" ] || fail "4.5.9 runs as $(vidpid_of "$U"), not 1209:abd1"
S=$(cat "$U/serial")
timed t "$V" flash 5.0.0 --serial "$S" >flash-up.log 2>&1 \
  || { tail -4 flash-up.log; fail "visreg flash 5.0.0 of the 4.5.9 camera failed: $(grep . flash-up.log | tail -1)"; }
grep -q "legacy CDC bootloader on /dev/ttyACM" flash-up.log || fail "the flash did not go through the CDC bootloader's own tty"
wait_firmware "$S" 5.0.0 20 || fail "after the flash, visreg devices does not show $S running 5.0.0"
step "4.5.9 -> 5.0.0 through the legacy CDC bootloader in $t s"
timed t2 "$V" flash 4.5.9 --serial "$S" >flash-down.log 2>&1 \
  || { tail -4 flash-down.log; fail "visreg flash 4.5.9 of the 5.0.0 camera failed: $(grep . flash-down.log | tail -1)"; }
wait_firmware "$S" 4.5.9 20 || fail "after the flash, visreg devices does not show $S running 4.5.9"
note "4.5.9 -> 5.0.0 via the CDC bootloader in $t s; 5.0.0 -> 4.5.9 via the DFU bootloader in $t2 s"
