# b: the official OpenMV client (PyPI openmv 1.0.7) reads a frame through cdc_acm.
# timeout: 150
. "$USBVM_SRC/.ci/usbvm/lib.sh"
[ -x "$PY" ] || fail "no Python at $PY (VISREG_PYTHON; .ci/run makes target/pyenv with openmv==1.0.7 pillow)"
start_sim cam --firmware 5.0.1
TTY=$cam_line
case "$TTY" in /dev/ttyACM[0-9]*) ;; *) fail "sim --usb printed '$TTY', not a /dev/ttyACM* tty" ;; esac
timed t timeout 120 "$PY" "$SRC/runner/tests/python/openmv_client_check.py" "$TTY" "$SRC/firmware/scripts/live.py" >client.out 2>client.err
rc=$?
tail -5 client.err; tail -c 600 client.out; echo
[ $rc = 0 ] || fail "openmv_client_check.py exited $rc after $t s: $(grep . client.err | tail -1)"
last=$(grep . client.out | tail -1)
w=$(jq -r '[.. | objects | .width? // empty] | first // empty' <<<"$last" 2>/dev/null)
[ "$w" = 320 ] || fail "the client's last line is not JSON with \"width\": 320 (width: ${w:-none}): ${last:0:200}"
note "openmv client read a ${w}x$(jq -r '[.. | objects | .height? // empty] | first // "?"' <<<"$last") frame over $TTY in $t s ($("$PY" --version 2>&1))"
