# h: timing: the same image written by `visreg flash` and by `dfu-util -D`, in one VM.
# timeout: 200
. "$USBVM_SRC/.ci/usbvm/lib.sh"
B=$TIMING_BUILD
image_of "$B" img.bin
size=$(stat -c %s img.bin)
[ "$size" -ge 2097152 ] || note "the image of $B is $size bytes, not 2 MiB (set USBVM_TIMING_BUILD)"
start_sim cam --firmware 5.0.0
U=$(tty_usbdev "$cam_line") || fail "sim --usb printed '$cam_line', a tty with no USB device"
S=$(cat "$U/serial")
timed tv "$V" flash "$B" --serial "$S" >flash.log 2>&1 || { tail -3 flash.log; fail "visreg flash $B --serial $S failed"; }
stop_sims
start_sim boot --in-bootloader --firmware 5.0.0
parse_usb_line "$boot_line"
timed td dfu-util -d "$BOOTLOADER_VIDPID" -S "$U_SERIAL" -a FIRMWARE -D img.bin >dnload.log 2>&1 \
  || { tr '\r' '\n' <dnload.log | tail -3; fail "dfu-util -D failed"; }
ratio=$(awk -v a="$tv" -v b="$td" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
note "$size B ($B): visreg flash $tv s (bootloader entry, write, reboot, version check), dfu-util -D $td s, ratio $ratio"
