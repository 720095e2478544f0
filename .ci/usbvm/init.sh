#!/bin/busybox sh
# /init of the USB VM's initramfs (busybox): loads the modules listed in /mods/order
# (dependencies first, as .ci/usb-vm resolved them from modules.dep), mounts this host's
# / read-only (9p tag hostroot) and the work directory read-write (tag work) at the same
# path as on the host, then runs usbvm.script= with the host's userland and powers off.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev
up() { cut -d' ' -f1 /proc/uptime; }
echo "[usbvm-init] $(up)s kernel $(uname -r) up, loading modules"
for m in $(cat /mods/order); do
  insmod /mods/$m.ko || echo "[usbvm-init] insmod $m FAILED"
done
arg() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
SCRIPT=$(arg usbvm.script)
WORK=$(arg usbvm.work)
R=/newroot
if ! mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=524288,cache=loose hostroot $R; then
  echo "[usbvm-init] FAILED to mount the host root over 9p"; poweroff -f
fi
# The host's view of the work dir, through the page-cached root share, before the work
# share covers it (or a tmpfs covers /tmp): the guest runs visreg from there, fast.
mkdir -p /workro
WORKRO=0
[ -d $R$WORK ] && mount --bind $R$WORK /workro && WORKRO=1
mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
mount -t devtmpfs dev $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts devpts $R/dev/pts -o ptmxmode=0666,mode=0620
mount -t tmpfs shm $R/dev/shm
mount -t tmpfs tmp $R/tmp
mount -t tmpfs run $R/run
mkdir -p $R/run/usbvm-host-work
[ $WORKRO = 1 ] && mount --move /workro $R/run/usbvm-host-work
[ -d $R/sys/kernel/config ] && mount -t configfs configfs $R/sys/kernel/config 2>/dev/null
mount -t debugfs debugfs $R/sys/kernel/debug 2>/dev/null
# The work dir may sit under /tmp (now a tmpfs): make the mount point there.
mkdir -p $R$WORK
if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288,cache=mmap work $R$WORK; then
  echo "[usbvm-init] FAILED to mount the work dir over 9p"; poweroff -f
fi
echo "[usbvm-init] $(up)s root ready, running $SCRIPT"
chroot $R /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME=/root TERM=dumb LANG=C.UTF-8 /bin/bash "$SCRIPT"
echo "[usbvm-init] $(up)s script exit $?"
sync
umount $R$WORK 2>/dev/null
poweroff -f
