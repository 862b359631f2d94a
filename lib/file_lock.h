/* flock(LOCK_EX) with a bound on the wait.  Polled with LOCK_NB rather
 * than a blocking flock() under alarm(): the module runs inside sshd,
 * which owns the signals, and no holder (stopped, stuck on a dead disk)
 * can hold the caller longer than it asked. */
#ifndef VG_FILE_LOCK_H
#define VG_FILE_LOCK_H

/* 0 once fd is locked; -ETIMEDOUT after about wait_ms (a signal only
 * shortens the naps); other flock() errors as -errno. */
int vg_flock_wait(int fd, int wait_ms);

#endif
