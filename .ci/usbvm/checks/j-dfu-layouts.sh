# j: the DFU functional descriptor found wherever a configuration puts it — once after the
# last alternate setting (OpenMV's TinyUSB bootloader, ST's ROM) or after each — through
# the kernel: `visreg flash` of a camera waiting in its bootloader opens alt 2 (FIRMWARE)
# in both layouts. (Before the fix, only a descriptor inside the opened alt was found:
# the after-last-alt layout failed with "no functional descriptor".)
# timeout: 120
. "$USBVM_SRC/.ci/usbvm/lib.sh"
for layout in after-last-alt each-alt; do
  start_sim "cam_${layout//-/_}" --in-bootloader --firmware 5.0.0 --dfu-functional "$layout" --run-seed 7
  v="cam_${layout//-/_}_line"
  parse_usb_line "${!v}"
  n=$(dfu-util -l 2>/dev/null | grep -c "Found DFU: \[$BOOTLOADER_VIDPID\]")
  [ "$n" -ge 4 ] || fail "$layout: dfu-util -l lists $n alt settings"
  timed t "$V" flash 5.0.1 --serial "$U_SERIAL" >"flash-$layout.log" 2>&1 \
    || { tail -4 "flash-$layout.log"; fail "$layout: visreg flash 5.0.1 of the camera in its bootloader failed: $(grep . "flash-$layout.log" | tail -1)"; }
  grep -q "reports firmware 5.0.1" "flash-$layout.log" || fail "$layout: flash did not read 5.0.1 back"
  step "$layout: flashed through alt 2 in $t s ($(grep -o 'wrote .*' "flash-$layout.log"))"
  stop_sims
done
note "functional descriptor after the last alt and after each alt: visreg flash opened FIRMWARE (alt 2) in both"
