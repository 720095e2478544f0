# f: a camera whose device-descriptor request fails: `visreg doctor` exits non-zero and says
# what the kernel saw (its dmesg lines).
# timeout: 90
. "$USBVM_SRC/.ci/usbvm/lib.sh"
dm0=$(dmesg | wc -l)
# The kernel never binds such a device, so sim --usb may print nothing: do not wait for it.
"$V" sim --usb --faults "$DESCRIPTOR_FAULT" >sim.out 2>sim.err &
SIMS+=($!)
for i in $(seq 300); do
  dmesg | tail -n +$((dm0 + 1)) | grep -qiE "device descriptor read|unable to enumerate|Device Descriptor Request Failed" && break
  kill -0 "${SIMS[0]}" 2>/dev/null || { cat sim.err | tail -3; fail "visreg sim --usb --faults $DESCRIPTOR_FAULT exited: $(grep . sim.err | head -1)"; }
  sleep 0.1
done
KLINES=$(dmesg | tail -n +$((dm0 + 1)))
echo "$KLINES"
grep -qiE "device descriptor read|unable to enumerate" <<<"$KLINES" || fail "the kernel logged no descriptor failure within 30 s"
"$V" doctor >doctor.log 2>&1
rc=$?
cat doctor.log
[ $rc != 0 ] || fail "visreg doctor exited 0 with a camera whose descriptor read fails"
grep -qiE "device descriptor read|Device Descriptor Request Failed|error -[0-9]+|unable to enumerate" doctor.log \
  || fail "visreg doctor (exit $rc) does not say what the kernel saw ($(grep -iE 'descriptor|enumerate' <<<"$KLINES" | head -1 | sed 's/^\[[^]]*\] //'))"
note "doctor exit $rc; kernel: $(grep -iE 'descriptor|enumerate' <<<"$KLINES" | head -1 | sed 's/^\[[^]]*\] //')"
