/*
 * C peers for the synchronization figures: POSIX process-shared semaphores (sem_init with
 * pshared = 1) in a MAP_SHARED anonymous mapping, between forked processes. They mark what the
 * hardware and glibc give without any library on top.
 *
 *   lock.uncontended     one process: sem_wait + sem_post on a semaphore of 1, N times.
 *                        Value: pairs per second.
 *   lock.contended_incr  2 processes each add 1 to a shared counter N times, each increment
 *                        between sem_wait and sem_post. Timed from forking both until both are
 *                        reaped; the total is checked. Value: total increments per second.
 *   event.pingpong       the parent posts `ping` and waits on `pong`; the child waits on `ping`
 *                        and posts `pong`. Value: round trips per second.
 *
 * Usage: sync_peers FIGURE [--quick]
 * Prints one JSON line: {"value": ..., "unit": ...}.
 * Build: cc -O2 -pthread -o sync_peers sync_peers.c
 */
#define _GNU_SOURCE
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct shared {
    sem_t a;
    sem_t b;
    volatile long counter;
};

static struct shared *make_shared(unsigned a, unsigned b) {
    struct shared *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    if (sem_init(&s->a, 1, a) != 0 || sem_init(&s->b, 1, b) != 0) {
        perror("sem_init");
        exit(1);
    }
    s->counter = 0;
    return s;
}

static int reap(pid_t pid) {
    int status = 0;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "child %d failed\n", (int)pid);
        return -1;
    }
    return 0;
}

static double uncontended(long n) {
    struct shared *s = make_shared(1, 0);
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        sem_wait(&s->a);
        sem_post(&s->a);
    }
    return (double)n / (now_s() - t0);
}

static double contended_incr(long n) {
    struct shared *s = make_shared(1, 0);
    pid_t kids[2];
    double t0 = now_s();
    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        if (kids[k] < 0) {
            perror("fork");
            exit(1);
        }
        if (kids[k] == 0) {
            for (long i = 0; i < n; i++) {
                sem_wait(&s->a);
                s->counter = s->counter + 1;
                sem_post(&s->a);
            }
            _exit(0);
        }
    }
    if (reap(kids[0]) || reap(kids[1])) {
        exit(1);
    }
    double elapsed = now_s() - t0;
    if (s->counter != 2 * n) {
        fprintf(stderr, "counter is %ld, expected %ld\n", s->counter, 2 * n);
        exit(1);
    }
    return (double)(2 * n) / elapsed;
}

static double pingpong(long n, long warmup) {
    struct shared *s = make_shared(0, 0);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    if (pid == 0) {
        for (long i = 0; i < n + warmup; i++) {
            sem_wait(&s->a);
            sem_post(&s->b);
        }
        _exit(0);
    }
    for (long i = 0; i < warmup; i++) {
        sem_post(&s->a);
        sem_wait(&s->b);
    }
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        sem_post(&s->a);
        sem_wait(&s->b);
    }
    double elapsed = now_s() - t0;
    if (reap(pid)) {
        exit(1);
    }
    return (double)n / elapsed;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FIGURE [--quick]\n", argv[0]);
        return 2;
    }
    int quick = argc > 2 && strcmp(argv[2], "--quick") == 0;
    const char *fig = argv[1];
    if (strcmp(fig, "lock.uncontended") == 0) {
        printf("{\"value\": %.1f, \"unit\": \"pairs/s\"}\n", uncontended(quick ? 10000000 : 100000000));
    } else if (strcmp(fig, "lock.contended_incr") == 0) {
        printf("{\"value\": %.1f, \"unit\": \"incr/s\"}\n", contended_incr(quick ? 1000000 : 5000000));
    } else if (strcmp(fig, "event.pingpong") == 0) {
        printf("{\"value\": %.1f, \"unit\": \"round trips/s\"}\n", pingpong(quick ? 20000 : 100000, 1000));
    } else {
        fprintf(stderr, "unknown figure %s\n", fig);
        return 2;
    }
    return 0;
}
