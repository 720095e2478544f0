# a: `visreg devices --json` finds the virtual camera (sim --usb --firmware 5.0.1) by
# VID:PID 37C5:124A and its serial on the /dev/ttyACM* that the kernel's cdc_acm made.
# timeout: 60
. "$USBVM_SRC/.ci/usbvm/lib.sh"
start_sim cam --firmware 5.0.1
TTY=$cam_line
case "$TTY" in /dev/ttyACM[0-9]*) ;; *) fail "sim --usb --firmware 5.0.1 printed '$TTY', not a /dev/ttyACM* tty" ;; esac
[ -c "$TTY" ] || fail "$TTY is not a character device"
U=$(tty_usbdev "$TTY") || fail "$TTY has no USB device in sysfs"
usb_list
[ "$(vidpid_of "$U")" = "$FIRMWARE_VIDPID" ] || fail "$TTY belongs to $(vidpid_of "$U"), not $FIRMWARE_VIDPID"
SERIAL=$(cat "$U/serial" 2>/dev/null) || fail "$(basename "$U") has no serial string"
bound=$(ls /sys/bus/usb/drivers/cdc_acm/ | grep -c "^$(basename "$U"):")
[ "$bound" -ge 1 ] || fail "no interface of $(basename "$U") is bound to cdc_acm: $(ls /sys/bus/usb/drivers/cdc_acm/ | tr '\n' ' ')"
step "kernel: $(basename "$U") $(vidpid_of "$U") serial $SERIAL speed $(cat "$U/speed"), $bound interface(s) on cdc_acm, $TTY"
timed t devices_json devices.json
cat devices.json.raw
CAM=$(usb_cam devices.json "$SERIAL")
[ -n "$CAM" ] || fail "visreg devices --json lists no USB camera with serial $SERIAL"
[ "$(field "$CAM" vid):$(field "$CAM" pid)" = "$FIRMWARE_VIDPID" ] || fail "devices lists $SERIAL as $(field "$CAM" vid):$(field "$CAM" pid)"
[ "$(field "$CAM" port)" = "$TTY" ] || fail "devices lists $SERIAL on '$(field "$CAM" port)', not $TTY"
note "$FIRMWARE_VIDPID $SERIAL on $TTY (cdc_acm), visreg devices --json took $t s"
