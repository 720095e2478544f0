# h: timing: 2 MiB written through the kernel by `visreg flash` and by `dfu-util -D`, in
# one VM, onto the same virtual camera waiting in its DFU bootloader. The image: build 5.0.1
# as a user catalog describes it — its FIRMWARE (the simulated image, 262272 bytes) plus a
# 1835008-byte ROMFS0 file — so the camera boots it and visreg reads the version back.
# Compared: visreg's write phase (what it prints: opening the interface to the last block)
# against dfu-util's two downloads (FIRMWARE and ROMFS0), each timed whole.
# timeout: 200
. "$USBVM_SRC/.ci/usbvm/lib.sh"
image_of 5.0.1 fw.bin
head -c 1835008 /dev/zero | tr '\0' '\245' >romfs.bin
total=$(( $(stat -c %s fw.bin) + $(stat -c %s romfs.bin) ))
cat >timing.toml <<TOML
[[build]]
name = "5.0.1"
version = "5.0.1"
board = "H7Plus"
protocol = "v2"
flasher = "openmv-dfu"
notes = "5.0.1 plus a ROMFS0 image: 2 MiB to write"
[[build.image]]
partition = "FIRMWARE"
file = "sim"
sha256 = "$(sha256sum fw.bin | cut -d' ' -f1)"
[[build.image]]
partition = "ROMFS0"
file = "romfs.bin"
sha256 = "$(sha256sum romfs.bin | cut -d' ' -f1)"
TOML
start_sim v --in-bootloader --firmware 5.0.0
parse_usb_line "$v_line"
timed tv "$V" flash 5.0.1 --catalog timing.toml --serial "$U_SERIAL" >flash.log 2>&1 \
  || { tail -4 flash.log; fail "visreg flash of $total bytes failed: $(grep . flash.log | tail -1)"; }
grep -q "reports firmware 5.0.1" flash.log || fail "visreg flash did not read 5.0.1 back"
w=$(sed -n 's/^wrote \([0-9]*\) bytes in \([0-9.]*\) s.*/\2/p' flash.log)
[ -n "$w" ] || fail "visreg flash printed no 'wrote N bytes in X s' line"
stop_sims
start_sim d --in-bootloader --firmware 5.0.0
parse_usb_line "$d_line"
timed t1 dfu-util -d "$BOOTLOADER_VIDPID" -S "$U_SERIAL" -a FIRMWARE -D fw.bin >dnload-fw.log 2>&1 \
  || { tr '\r' '\n' <dnload-fw.log | tail -3; fail "dfu-util -a FIRMWARE -D failed"; }
timed t2 dfu-util -d "$BOOTLOADER_VIDPID" -S "$U_SERIAL" -a ROMFS0 -D romfs.bin >dnload-romfs.log 2>&1 \
  || { tr '\r' '\n' <dnload-romfs.log | tail -3; fail "dfu-util -a ROMFS0 -D failed"; }
td=$(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.1f", a + b }')
ratio=$(awk -v a="$w" -v b="$td" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
note "$total B: visreg writes in $w s (whole flash with reboot and version check $tv s), dfu-util -D in $td s ($t1 + $t2); ratio $ratio"
awk -v r="$ratio" 'BEGIN { exit !(r <= 1.2) }' || fail "visreg's write phase is $ratio × dfu-util's (budget 1.2)"
