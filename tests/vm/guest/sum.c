/* dmclass-vm-sum: a 128-bit checksum of stdin, printed as 32 hex digits: the VM
 * scenarios' data checks (tests/vm/tests/scenarios/common/dmclass.rs, read_sum). Under
 * TCG busybox's sha256sum hashed about 20 MB/s, the largest part of a data check; this
 * works on 64-bit words in four independent lanes (multiply, rotate: xxh64's round) and
 * runs several times faster. It detects accidental change (a lost write, a stale leg, a
 * block at the wrong offset), not deliberate collisions: test data, not cryptography.
 * Built static by tests/vm/scripts/vm-image. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t round1(uint64_t acc, uint64_t w) { return rotl(acc + w * P2, 31) * P1; }

/* The final avalanche of a 64-bit value (every input bit reaches every output bit). */
static uint64_t mix(uint64_t h) {
  h ^= h >> 33;
  h *= P2;
  h ^= h >> 29;
  h *= P3;
  h ^= h >> 32;
  return h;
}

int main(int argc, char **argv) {
  (void)argv;
  static uint64_t buf[(1 << 20) / sizeof(uint64_t)];
  uint64_t lane[4] = {P1 + P2, P2, 0, -P1};
  uint64_t len = 0;
  size_t have = 0; /* bytes in buf */
  if (argc != 1) {
    fprintf(stderr, "usage: dmclass-vm-sum <DATA\n");
    return 2;
  }
  for (;;) {
    ssize_t n = read(0, (char *)buf + have, sizeof buf - have);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      perror("dmclass-vm-sum: read");
      return 1;
    }
    have += (size_t)n;
    len += (uint64_t)n;
    /* whole 32-byte stripes now; a partial one waits for more (or the end) */
    size_t stripes = n == 0 ? (have + 31) / 32 : have / 32;
    if (n == 0 && have % 32 != 0) memset((char *)buf + have, 0, 32 - have % 32);
    for (size_t s = 0; s < stripes; s++)
      for (int i = 0; i < 4; i++) lane[i] = round1(lane[i], buf[4 * s + (size_t)i]);
    size_t used = stripes * 32 < have ? stripes * 32 : have;
    memmove(buf, (char *)buf + used, have - used);
    have -= used;
    if (n == 0) break;
  }
  uint64_t a = rotl(lane[0], 1) + rotl(lane[1], 7) + rotl(lane[2], 12) + rotl(lane[3], 18);
  uint64_t b = rotl(lane[3], 1) ^ rotl(lane[2], 7) ^ rotl(lane[1], 12) ^ rotl(lane[0], 18);
  printf("%016llx%016llx\n", (unsigned long long)mix(a ^ len * P3),
         (unsigned long long)mix(b + len * P1 + P2));
  return 0;
}
