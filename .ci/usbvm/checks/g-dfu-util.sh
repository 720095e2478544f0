# g: dfu-util as the third-party judge of the OpenMV DFU bootloader (sim --usb
# --in-bootloader --firmware 5.0.0): lists the partitions by name, writes FIRMWARE, reads it
# back identical, and the camera boots what was written.
# timeout: 150
. "$USBVM_SRC/.ci/usbvm/lib.sh"
start_sim cam --in-bootloader --firmware 5.0.0
parse_usb_line "$cam_line"
[ "$U_VIDPID" = "$BOOTLOADER_VIDPID" ] || fail "sim --usb --in-bootloader shows up as $U_VIDPID, not $BOOTLOADER_VIDPID"
S=$U_SERIAL
L=$(dfu_list "$S"); echo "$L"
n=$(grep -c . <<<"$L")
[ "$n" -ge 4 ] || fail "dfu-util -l lists $n alt settings of $BOOTLOADER_VIDPID serial $S (want >= 4)"
grep -q 'name="FIRMWARE"' <<<"$L" || fail "dfu-util -l shows no partition named FIRMWARE"
ALT=FIRMWARE
image_of 5.0.1 img.bin
size=$(stat -c %s img.bin)
timed t1 dfu-util -d "$BOOTLOADER_VIDPID" -S "$S" -a "$ALT" -D img.bin >dnload.log 2>&1 \
  || { tr '\r' '\n' <dnload.log | tail -4; fail "dfu-util -D img.bin (5.0.1, $size bytes) failed"; }
timed t2 dfu-util -d "$BOOTLOADER_VIDPID" -S "$S" -a "$ALT" -U up.bin >upload.log 2>&1 \
  || { tr '\r' '\n' <upload.log | tail -4; fail "dfu-util -U failed"; }
cmp -n "$size" img.bin up.bin || fail "the FIRMWARE bytes read back differ from the image written ($size bytes; read back $(stat -c %s up.bin))"
# Leave DFU: DFU_DETACH (dfu-util -e); if the camera stays, a USB reset (dfu-util -R).
dfu-util -d "$BOOTLOADER_VIDPID" -S "$S" -e >detach.log 2>&1
how="dfu-util -e"
if ! wait_firmware "" 5.0.1 10; then
  dfu-util -d "$BOOTLOADER_VIDPID" -S "$S" -a "$ALT" -U up2.bin -R >reset.log 2>&1
  how="a USB reset (dfu-util -R)"
  wait_firmware "" 5.0.1 15 || { usb_list; fail "after dfu-util -D 5.0.1, neither -e nor a USB reset made $S boot 5.0.1"; }
fi
note "dfu-util: $n alts, -D $size B in $t1 s, -U in $t2 s, identical; booted 5.0.1 after $how"
