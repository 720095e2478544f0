# i: two virtual cameras of the same board on one bus, flashed in parallel with different
# builds by --serial: each reports its own build afterwards.
# timeout: 200
. "$USBVM_SRC/.ci/usbvm/lib.sh"
start_sim one --firmware 5.0.0 --run-seed 1   # the seed is the unique id, hence the serial
start_sim two --firmware 5.0.0 --run-seed 2
U1=$(tty_usbdev "$one_line") || fail "first sim's '$one_line' has no USB device"
U2=$(tty_usbdev "$two_line") || fail "second sim's '$two_line' has no USB device"
S1=$(cat "$U1/serial"); S2=$(cat "$U2/serial")
usb_list
[ "$S1" != "$S2" ] || fail "both virtual cameras have serial $S1: --serial cannot tell them apart"
[ "$(basename "$U1" | cut -d- -f1)" = "$(basename "$U2" | cut -d- -f1)" ] || note "the two cameras are on different buses: $(basename "$U1"), $(basename "$U2")"
B1=5.0.1; B2=5.1.0-rc2
t0=$(up)
"$V" flash "$B1" --serial "$S1" >flash1.log 2>&1 & P1=$!
"$V" flash "$B2" --serial "$S2" >flash2.log 2>&1 & P2=$!
wait $P1; r1=$?; wait $P2; r2=$?
t=$(since "$t0")
tail -2 flash1.log flash2.log
[ $r1 = 0 ] && [ $r2 = 0 ] || fail "parallel flashes: $B1 on $S1 exit $r1, $B2 on $S2 exit $r2"
wait_firmware "$S1" "$B1" 20 || fail "$S1 does not report $B1 after the parallel flash"
wait_firmware "$S2" "$B2" 20 || fail "$S2 does not report $B2 after the parallel flash"
note "$S1 -> $B1 and $S2 -> $B2 in parallel in $t s (on $(basename "$U1") and $(basename "$U2"))"
