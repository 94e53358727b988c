/* The child program of bench.peers: writes numbered lines, or stamps its start.
 *
 *   writer lines COUNT PER_WRITE SIDE_FILE hold|exit [DELAY_MS]
 *       Sleeps DELAY_MS (default 0: lets the CLI that started it finish first),
 *       writes its start time (CLOCK_REALTIME ns) to SIDE_FILE, then COUNT lines
 *       of 100 bytes to stdout, PER_WRITE lines per write(2); then appends its end
 *       time to SIDE_FILE and either waits for a signal (hold) or exits 0 (exit).
 *       Line i (from 0) is "%09d " followed by 89 'x' and a newline.
 *   writer stamp FILE
 *       Appends its start time (CLOCK_REALTIME ns) and a newline to FILE in one
 *       write(2), then exits 1 at once: the program a supervisor restarts.
 *
 * Built by the harness with gcc -O2 into bench/.peers/; stdlib only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { LINE = 100 };

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int append_time(const char *path, long long ns) {
    char text[32];
    int len = snprintf(text, sizeof text, "%lld\n", ns);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, text, (size_t)len) != len) {
        perror(path);
        return -1;
    }
    return close(fd);
}

static int write_all(const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = write(STDOUT_FILENO, buf, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("write");
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static void fill(char *line, long number) {
    for (int i = 8; i >= 0; i--, number /= 10) line[i] = (char)('0' + number % 10);
}

static int lines(long count, long per_write, const char *side, int hold, long delay_ms) {
    if (count < 1 || per_write < 1 || delay_ms < 0) {
        fprintf(stderr, "writer: COUNT and PER_WRITE must be >= 1, DELAY_MS >= 0\n");
        return 2;
    }
    struct timespec delay = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
    while (nanosleep(&delay, &delay) != 0 && errno == EINTR) {
    }
    char *buf = malloc((size_t)(per_write * LINE));
    if (buf == NULL || append_time(side, now_ns()) < 0) return 1;
    for (long i = 0; i < per_write; i++) {
        memset(buf + i * LINE, 'x', LINE - 1);
        buf[i * LINE + 9] = ' ';
        buf[i * LINE + LINE - 1] = '\n';
    }
    for (long first = 0; first < count; first += per_write) {
        long n = count - first < per_write ? count - first : per_write;
        for (long i = 0; i < n; i++) fill(buf + i * LINE, first + i);
        if (write_all(buf, (size_t)(n * LINE)) < 0) return 1;
    }
    if (append_time(side, now_ns()) < 0) return 1;
    if (hold) {
        for (;;) pause();
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "stamp") == 0) {
        append_time(argv[2], now_ns());
        return 1;
    }
    if ((argc == 6 || argc == 7) && strcmp(argv[1], "lines") == 0) {
        int hold = strcmp(argv[5], "hold") == 0;
        return lines(atol(argv[2]), atol(argv[3]), argv[4], hold, argc == 7 ? atol(argv[6]) : 0);
    }
    fprintf(stderr,
            "usage: writer lines COUNT PER_WRITE SIDE_FILE hold|exit [DELAY_MS]\n"
            "       writer stamp FILE\n");
    return 2;
}
