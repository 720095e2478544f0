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
wait_usb "$S" "$BOOTLOADER_VIDPID" 15 || { usb_list; fail "after the power loss no bootloader $BOOTLOADER_VIDPID with serial $S appeared"; }
"$V" doctor --serial "$S" >doctor.log 2>&1
drc=$?
cat doctor.log
grep -qi bootloader doctor.log || fail "visreg doctor --serial $S (exit $drc) does not mention the bootloader"
timed t2 "$V" recover --serial "$S" --firmware 5.0.1 >recover.log 2>&1
rc=$?
tail -4 recover.log
[ $rc = 0 ] || fail "visreg recover --serial $S --firmware 5.0.1 exited $rc after $t2 s"
wait_firmware "$S" 5.0.1 20 || fail "after recover, devices does not show $S running 5.0.1"
note "flash failed as planned in $t s (exit 2), doctor exit $drc names the bootloader, recover in $t2 s"
