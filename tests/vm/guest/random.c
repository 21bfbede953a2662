/* dmclass-vm-random MIB: writes MIB MiB of pseudo-random bytes to stdout, for the VM
 * scenarios' test data (tests/vm/tests/scenarios/common/dmclass.rs, write_random).
 * Under TCG the kernel's /dev/urandom made 32 MiB in 1.6 s, a quarter of a crash
 * round's data work; xoshiro256** makes it in a fraction of that. Seeded from the
 * kernel's generator, so no two calls write the same data (a write that lands on the
 * wrong device or offset cannot match by chance). Test data, not cryptography.
 * Built static by tests/vm/scripts/vm-image. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <unistd.h>

static uint64_t s[4];

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next(void) {
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

int main(int argc, char **argv) {
  static uint64_t buf[(1 << 20) / sizeof(uint64_t)];
  char *end = NULL;
  unsigned long mib = argc == 2 ? strtoul(argv[1], &end, 10) : 0;
  if (argc != 2 || end == argv[1] || *end != '\0' || mib > (1UL << 20)) {
    fprintf(stderr, "usage: dmclass-vm-random MIB\n");
    return 2;
  }
  if (getrandom(s, sizeof s, 0) != (ssize_t)sizeof s) {
    perror("dmclass-vm-random: getrandom");
    return 1;
  }
  s[0] |= 1; /* the all-zero state is the one xoshiro cannot leave */
  for (unsigned long m = 0; m < mib; m++) {
    for (size_t i = 0; i < sizeof buf / sizeof buf[0]; i++) buf[i] = next();
    const char *p = (const char *)buf;
    size_t left = sizeof buf;
    while (left > 0) {
      ssize_t n = write(1, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        perror("dmclass-vm-random: write");
        return 1;
      }
      p += n;
      left -= (size_t)n;
    }
  }
  return 0;
}
