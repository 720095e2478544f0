# c: `visreg flash B --serial S` for each simulated 5.x build in turn on one virtual camera
# (sim --usb --firmware 5.0.0); each exits 0 and devices shows the camera back running B.
# timeout: 240
. "$USBVM_SRC/.ci/usbvm/lib.sh"
start_sim cam --firmware 5.0.0
U=$(tty_usbdev "$cam_line") || fail "sim --usb printed '$cam_line', a tty with no USB device"
S=$(cat "$U/serial")
times=""
for B in $FLASH_BUILDS; do
  step "flash $B --serial $S"
  timed t "$V" flash "$B" --serial "$S" >"flash-$B.log" 2>&1
  rc=$?
  tail -3 "flash-$B.log"
  [ $rc = 0 ] || fail "visreg flash $B --serial $S exited $rc after $t s: $(grep . "flash-$B.log" | tail -1)"
  wait_firmware "$S" "$B" 20 || fail "after flashing $B, visreg devices --json does not show $S running it"
  step "  $B in $t s, back on $(field "$W_CAM" port)"
  times="$times $B ${t}s"
done
note "flashed:$times"
