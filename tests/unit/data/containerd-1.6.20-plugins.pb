
\
io.containerd.content.v1content*7
root//tmp/ctrd/root/io.containerd.content.v1.content
Ê
io.containerd.snapshotter.v1aufs"
linuxamd64*8
root0/tmp/ctrd/root/io.containerd.snapshotter.v1.aufs:vraufs is not supported (modprobe aufs failed: exec: "modprobe": executable file not found in $PATH ""): skip plugin
É
io.containerd.snapshotter.v1btrfs"
linuxamd64*9
root1/tmp/ctrd/root/io.containerd.snapshotter.v1.btrfs:êãpath /tmp/ctrd/root/io.containerd.snapshotter.v1.btrfs (ext4) must be a btrfs filesystem to be used with the btrfs snapshotter: skip plugin
W
io.containerd.snapshotter.v1	devmapper"
linuxamd64:devmapper not configured
6
io.containerd.snapshotter.v1native"
linuxamd64
x
io.containerd.snapshotter.v1	overlayfs"
linuxamd64*=
root5/tmp/ctrd/root/io.containerd.snapshotter.v1.overlayfs
Ò
io.containerd.snapshotter.v1zfs"
linuxamd64*7
root//tmp/ctrd/root/io.containerd.snapshotter.v1.zfs:Ç~path /tmp/ctrd/root/io.containerd.snapshotter.v1.zfs must be a zfs filesystem to be used with the zfs snapshotter: skip plugin
™
io.containerd.metadata.v1boltio.containerd.content.v1io.containerd.snapshotter.v1*=
path5/tmp/ctrd/root/io.containerd.metadata.v1.bolt/meta.db*
policyshared
M
io.containerd.differ.v1walkingio.containerd.metadata.v1"
linuxamd64
"
io.containerd.event.v1exchange
ö
io.containerd.gc.v1	schedulerio.containerd.metadata.v1*
ScheduleDelay0s*
MutationThreshold100*
DeletionThreshold0*
PauseThreshold0.02
1
io.containerd.service.v1introspection-service
a
io.containerd.service.v1containers-serviceio.containerd.event.v1io.containerd.metadata.v1
^
io.containerd.service.v1content-serviceio.containerd.event.v1io.containerd.metadata.v1
A
io.containerd.service.v1diff-serviceio.containerd.differ.v1
Z
io.containerd.service.v1images-serviceio.containerd.metadata.v1io.containerd.gc.v1
E
io.containerd.service.v1leases-serviceio.containerd.metadata.v1
a
io.containerd.service.v1namespaces-serviceio.containerd.event.v1io.containerd.metadata.v1
`
io.containerd.service.v1snapshots-serviceio.containerd.event.v1io.containerd.metadata.v1
d
io.containerd.runtime.v1linuxio.containerd.event.v1io.containerd.metadata.v1"
linuxamd64
c
io.containerd.runtime.v2taskio.containerd.event.v1io.containerd.metadata.v1"
linuxamd64
K
io.containerd.monitor.v1cgroupsio.containerd.event.v1"
linuxamd64
™
io.containerd.service.v1tasks-serviceio.containerd.event.v1io.containerd.runtime.v1io.containerd.runtime.v2io.containerd.metadata.v1io.containerd.monitor.v1
@
io.containerd.grpc.v1introspectionio.containerd.service.v1
V
io.containerd.internal.v1restartio.containerd.event.v1io.containerd.service.v1
=
io.containerd.grpc.v1
containersio.containerd.service.v1
:
io.containerd.grpc.v1contentio.containerd.service.v1
7
io.containerd.grpc.v1diffio.containerd.service.v1
7
io.containerd.grpc.v1eventsio.containerd.event.v1
$
io.containerd.grpc.v1healthcheck
9
io.containerd.grpc.v1imagesio.containerd.service.v1
9
io.containerd.grpc.v1leasesio.containerd.service.v1
=
io.containerd.grpc.v1
namespacesio.containerd.service.v1
9
io.containerd.internal.v1opt*
path/opt/containerd
<
io.containerd.grpc.v1	snapshotsio.containerd.service.v1
8
io.containerd.grpc.v1tasksio.containerd.service.v1
 
io.containerd.grpc.v1version