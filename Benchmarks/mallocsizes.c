// mallocsizes: an LD_PRELOAD shim that keeps the live heap allocations of a process by size, for the idle-session
// breakdown of issue 34 (which objects a held session keeps). Valgrind's massif stops on Swift's signal handling.
//
// Build: cc -O2 -shared -fPIC -o mallocsizes.so Benchmarks/mallocsizes.c -lpthread
// Use:   LD_PRELOAD=./mallocsizes.so MALLOCSIZES_DIR=/tmp/ms ws serve ...
//        touch /tmp/ms/dump   # within 100 ms, /tmp/ms/live-N.txt: "size count bytes" per live allocation size
//
// Bounded: at most 8 M live allocations are tracked (the rest is counted as untracked), sizes above 1 MiB share a
// bucket.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);

#define SLOTS (1u << 24)      // open addressing, power of two
#define MAX_LIVE (8u << 20)   // at most half full
#define BUCKETS (1u << 20)    // exact sizes up to 1 MiB
static uintptr_t *keys;       // 0: empty, 1: deleted
static uint32_t *sizes;
static uint64_t *count_by_size, *untracked;
static uint64_t live, large_count, large_bytes;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static __thread int busy;

static inline uint32_t slot_of(uintptr_t key) { return (uint32_t)((key >> 4) * 0x9E3779B97F4A7C15ull >> 40) & (SLOTS - 1); }

static void record(void *pointer, size_t size) {
  if (!pointer || !keys || busy) return;
  pthread_mutex_lock(&lock);
  if (live < MAX_LIVE) {
    uint32_t slot = slot_of((uintptr_t)pointer);
    while (keys[slot] > 1) slot = (slot + 1) & (SLOTS - 1);
    keys[slot] = (uintptr_t)pointer;
    sizes[slot] = (uint32_t)(size > UINT32_MAX ? UINT32_MAX : size);
    live++;
    if (size < BUCKETS) count_by_size[size]++;
    else { large_count++; large_bytes += size; }
  } else {
    (*untracked)++;
  }
  pthread_mutex_unlock(&lock);
}

static void forget(void *pointer) {
  if (!pointer || !keys || busy) return;
  pthread_mutex_lock(&lock);
  uint32_t slot = slot_of((uintptr_t)pointer);
  for (uint32_t probes = 0; keys[slot] != 0 && probes < SLOTS; probes++, slot = (slot + 1) & (SLOTS - 1)) {
    if (keys[slot] == (uintptr_t)pointer) {
      size_t size = sizes[slot];
      keys[slot] = 1;
      live--;
      if (size < BUCKETS) count_by_size[size]--;
      else { large_count--; large_bytes -= size; }
      break;
    }
  }
  pthread_mutex_unlock(&lock);
}

void *malloc(size_t size) { void *p = __libc_malloc(size); record(p, size); return p; }
void *calloc(size_t n, size_t size) { void *p = __libc_calloc(n, size); record(p, n * size); return p; }
void free(void *p) { forget(p); __libc_free(p); }
void *realloc(void *old, size_t size) {
  forget(old);
  void *p = __libc_realloc(old, size);
  record(p, size);
  return p;
}
void *memalign(size_t alignment, size_t size) { void *p = __libc_memalign(alignment, size); record(p, size); return p; }
void *aligned_alloc(size_t alignment, size_t size) { return memalign(alignment, size); }
int posix_memalign(void **out, size_t alignment, size_t size) {
  void *p = memalign(alignment, size);
  if (!p) return 12;
  *out = p;
  return 0;
}

static void *dumper(void *argument) {
  const char *dir = argument;
  char request[512], path[512];
  snprintf(request, sizeof request, "%s/dump", dir);
  for (int n = 1;; ) {
    usleep(100000);
    struct stat status;
    if (stat(request, &status) != 0) continue;
    unlink(request);
    snprintf(path, sizeof path, "%s/live-%d.txt", dir, n++);
    busy = 1;
    FILE *out = fopen(path, "w");
    pthread_mutex_lock(&lock);
    for (uint32_t size = 0; size < BUCKETS; size++)
      if (count_by_size[size]) fprintf(out, "%u %lu %lu\n", size, count_by_size[size], count_by_size[size] * size);
    fprintf(out, "large %lu %lu\nuntracked %lu 0\n", large_count, large_bytes, *untracked);
    pthread_mutex_unlock(&lock);
    fclose(out);
    busy = 0;
  }
  return NULL;
}

__attribute__((constructor)) static void start(void) {
  const char *dir = getenv("MALLOCSIZES_DIR");
  if (!dir) return;
  busy = 1;
  keys = __libc_calloc(SLOTS, sizeof *keys);
  sizes = __libc_calloc(SLOTS, sizeof *sizes);
  count_by_size = __libc_calloc(BUCKETS, sizeof *count_by_size);
  untracked = __libc_calloc(1, sizeof *untracked);
  pthread_t thread;
  pthread_create(&thread, NULL, dumper, (void *)dir);
  busy = 0;
}
