/*
 * The floor for start_join.*: fork a child that exits at once, wait for it, repeat.
 *
 * Usage: fork_exit_wait FIGURE [--quick]
 * Prints one JSON line: {"value": <ms per process>, "unit": "ms"}.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fork_exit_wait(void) {
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return -1;
    }
    if (pid == 0) {
        _exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "child %d did not exit cleanly\n", (int)pid);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    int quick = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
        }
    }
    int n = quick ? 500 : 2000;
    for (int i = 0; i < 20; i++) {
        if (fork_exit_wait() != 0) {
            return 1;
        }
    }
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        if (fork_exit_wait() != 0) {
            return 1;
        }
    }
    double ms = (now_s() - t0) * 1e3 / n;
    printf("{\"value\": %.6f, \"unit\": \"ms\"}\n", ms);
    return 0;
}
