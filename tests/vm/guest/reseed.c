/* dmclass-vm-reseed: run by the VM harness right after it resumed a saved VM state
 * (tests/vm/src/resume.rs). Every resumed copy starts from the same random generator
 * state and would hand out the same "random" UUIDs; this mixes the bytes on stdin
 * (the host's randomness) into the kernel's input pool and forces a reseed of the
 * generator from it (RNDRESEEDCRNG). Built static by tests/vm/scripts/vm-image. */
#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(void) {
  unsigned char buf[64];
  ssize_t n = read(0, buf, sizeof buf);
  int fd = open("/dev/urandom", O_WRONLY);
  if (n <= 0 || fd < 0 || write(fd, buf, (size_t)n) != n) {
    perror("dmclass-vm-reseed: mixing the seed in");
    return 1;
  }
  /* ENODATA: the generator is not initialized yet; it will be from the pool. */
  if (ioctl(fd, RNDRESEEDCRNG) != 0 && errno != ENODATA) {
    perror("dmclass-vm-reseed: RNDRESEEDCRNG");
    return 1;
  }
  return 0;
}
