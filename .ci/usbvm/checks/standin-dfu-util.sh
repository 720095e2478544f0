# standin: the harness end to end with the prototype's Python USB/IP DFU device
# (VISREG_USBVM_STANDIN=/path/to/usbip_dfu.py) in place of `visreg sim --usb`: vhci_hcd
# attach, enumeration, dfu-util -l/-D/-U through usbfs, visreg devices (nusb) sees it.
# Proves the plumbing only; the real checks do not use it.
# timeout: 150
. "$USBVM_SRC/.ci/usbvm/lib.sh"
STANDIN=${VISREG_USBVM_STANDIN:?set VISREG_USBVM_STANDIN to the prototype usbip_dfu.py}
S=B30BDCE1C5016000420033
mkdir -p dev
t0=$(up)
python3 "$STANDIN" "$S" "$D/dev" >dev.out 2>&1 &
SIMS+=($!)
wait_usb "$S" "$BOOTLOADER_VIDPID" 20 || { cat dev.out; dmesg | tail; fail "the stand-in did not enumerate"; }
step "enumerated as $(basename "$W_DEV") in $(since "$t0") s, speed $(cat "$W_DEV/speed")"
usb_list
cat /sys/devices/platform/vhci_hcd.0/status*
L=$(dfu_list "$S"); echo "$L"
n=$(grep -c . <<<"$L")
[ "$n" -ge 4 ] || fail "dfu-util -l lists $n alt settings (want >= 4)"
ALT=$(dfu_alt_of "$L" FIRMWARE)
[ -n "$ALT" ] || fail "no partition named FIRMWARE in dfu-util -l"
head -c 2097152 /dev/urandom >img.bin
timed t1 dfu-util -d "$BOOTLOADER_VIDPID" -S "$S" -a "$ALT" -D img.bin >dnload.log 2>&1 || { tr '\r' '\n' <dnload.log | tail -3; fail "dfu-util -D failed"; }
cmp img.bin dev/FIRMWARE.bin || fail "the device's FIRMWARE differs from the file"
timed t2 dfu-util -d "$BOOTLOADER_VIDPID" -S "$S" -a "$ALT" -U up.bin >upload.log 2>&1 || { tr '\r' '\n' <upload.log | tail -3; fail "dfu-util -U failed"; }
cmp -n "$(stat -c %s img.bin)" img.bin up.bin || fail "uploaded bytes differ"
devices_json devices.json
cat devices.json.raw
CAM=$(usb_cam devices.json "$S")
[ -n "$CAM" ] || fail "visreg devices --json does not list $S"
note "stand-in: $n alts (FIRMWARE is alt $ALT, named $(grep -o "alt=$ALT, name=\"[^\"]*\"" <<<"$L")), dfu-util -D 2 MiB in $t1 s, -U in $t2 s, identical"
note "visreg devices: $(field "$CAM" vid):$(field "$CAM" pid) $(field "$CAM" serial) state '$(field "$CAM" state)'"
