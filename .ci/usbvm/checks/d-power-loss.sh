# d: power loss mid-flash: the flash fails (exit 2), doctor names the bootloader, recover
# brings the camera back.
# timeout: 180
. "$USBVM_SRC/.ci/usbvm/lib.sh"
start_sim cam --firmware 5.0.0 --faults "$POWER_LOSS_FAULT"
U=$(tty_usbdev "$cam_line") || fail "sim --usb printed '$cam_line', a tty with no USB device"
S=$(cat "$U/serial")
timed t "$V" flash 5.0.1 --serial "$S" >flash.log 2>&1
rc=$?
tail -4 flash.log
[ $rc = 2 ] || fail "visreg flash 5.0.1 --serial $S with $POWER_LOSS_FAULT exited $rc (want 2) after $t s"
# The bootloader has a USB serial of its own (the firmware's is shorter, as on real cameras).
wait_usb "" "$BOOTLOADER_VIDPID" 15 || { usb_list; fail "after the power loss no bootloader $BOOTLOADER_VIDPID appeared"; }
read -r SB <"$W_DEV/serial"
step "bootloader $(basename "$W_DEV") serial $SB (firmware serial $S)"
"$V" doctor --serial "$S" >doctor.log 2>&1
drc=$?
cat doctor.log
# It must have diagnosed the camera (exit 0/1, not 2 "could not run") and named its state.
[ $drc -le 1 ] || fail "visreg doctor --serial $S could not run (exit $drc): $(grep . doctor.log | head -1)"
grep -v "is it in its bootloader" doctor.log | grep -qi bootloader || fail "visreg doctor --serial $S (exit $drc) does not mention the bootloader"
timed t2 "$V" recover --serial "$S" --firmware 5.0.1 >recover.log 2>&1
rc=$?
tail -4 recover.log
[ $rc = 0 ] || fail "visreg recover --serial $S --firmware 5.0.1 exited $rc after $t2 s"
wait_firmware "" 5.0.1 20 || fail "after recover, devices does not show $S running 5.0.1"
note "bootloader serial $SB, firmware serial $S"
note "flash failed as planned in $t s (exit 2), doctor exit $drc names the bootloader, recover in $t2 s"
