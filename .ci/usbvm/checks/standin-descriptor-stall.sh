# standin: what the kernel logs (and what `visreg doctor` says) when a device stalls its
# device-descriptor request: the prototype's device (VISREG_USBVM_STANDIN) patched to stall
# GET_DESCRIPTOR(DEVICE). For whoever writes --faults descriptor-fail.
# timeout: 90
. "$USBVM_SRC/.ci/usbvm/lib.sh"
STANDIN=${VISREG_USBVM_STANDIN:?set VISREG_USBVM_STANDIN to the prototype usbip_dfu.py}
mkdir -p dev
dm0=$(dmesg | wc -l)
python3 - "$STANDIN" "$D/dev" >dev.out 2>&1 <<'PY' &
import importlib.util, sys
spec = importlib.util.spec_from_file_location("usbip_dfu", sys.argv[1])
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
orig = m.Dfu.control
def control(self, setup, data):
    if setup[0] == 0x80 and setup[1] == 6 and setup[3] == 1:
        return m.EPIPE, b""          # stall GET_DESCRIPTOR(DEVICE)
    return orig(self, setup, data)
m.Dfu.control = control
sys.argv = ["usbip_dfu.py", "STALL0001", sys.argv[2]]
m.main()
PY
SIMS+=($!)
t0=$(up)
for i in $(seq 400); do
  dmesg | tail -n +$((dm0 + 1)) | grep -q "unable to enumerate" && break
  sleep 0.1
done
K=$(dmesg | tail -n +$((dm0 + 1)))
echo "$K"
grep -q "device descriptor read" <<<"$K" || fail "no 'device descriptor read' in dmesg"
"$V" doctor >doctor.log 2>&1; rc=$?
cat doctor.log
note "kernel, $(since "$t0") s: $(grep -E 'descriptor|enumerate' <<<"$K" | sed 's/^\[[^]]*\] //' | sort | uniq -c | sed 's/^ *//' | tr '\n' ';')"
note "visreg doctor exit $rc: $(grep . doctor.log | head -2 | tr '\n' ' ' | cut -c1-200)"
