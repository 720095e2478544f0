# e: a bricked camera (ST's ROM DFU, 0483:DF11) is brought back by `visreg recover`.
# timeout: 150
. "$USBVM_SRC/.ci/usbvm/lib.sh"
start_sim cam --bricked
parse_usb_line "$cam_line"
[ "$U_VIDPID" = "$ROM_VIDPID" ] || fail "sim --usb --bricked shows up as $U_VIDPID, not ST's ROM DFU $ROM_VIDPID"
[ -d "/sys/bus/usb/devices/$U_BUSPORT" ] || fail "no /sys/bus/usb/devices/$U_BUSPORT"
dfu-util -l 2>&1 | tr -d '\r' | grep -a "Found DFU" | head -5
# shellcheck disable=SC2086
timed t "$V" recover $BRICKED_RECOVER_ARGS >recover.log 2>&1
rc=$?
tail -5 recover.log
[ $rc = 0 ] || fail "visreg recover $BRICKED_RECOVER_ARGS on ST's ROM DFU exited $rc after $t s: $(grep . recover.log | tail -1)"
devices_json devices.json
cat devices.json
CAM=$(jq -c '[.[] | select(.vid + ":" + .pid == "'$FIRMWARE_VIDPID'")][0] // empty' devices.json)
[ -n "$CAM" ] || note "after recover, devices lists no $FIRMWARE_VIDPID camera (yet)"
note "ST ROM DFU at usb $U_BUSPORT, recovered in $t s; now: ${CAM:-?}"
