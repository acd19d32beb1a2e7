/* Streaming latency probe for scripts/bench.sh: writes its header and a
 * first body line holding the wall-clock time in nanoseconds
 * (CLOCK_REALTIME, read just before the write), then stays alive 50 ms
 * before ending, so a host that waits for the script's end, or buffers
 * its output, shows up as about 50 ms of latency. The client
 * (first_line.py) subtracts the stamp from the time the line arrives. */
#include <stdio.h>
#include <time.h>

int main(void)
{
    struct timespec now;
    struct timespec pause = {0, 50L * 1000 * 1000};

    fputs("Content-Type: text/plain\n\n", stdout);
    clock_gettime(CLOCK_REALTIME, &now);
    printf("%lld\n", (long long)now.tv_sec * 1000000000LL + now.tv_nsec);
    if (fflush(stdout) != 0)
        return 1;
    nanosleep(&pause, NULL);
    fputs("done\n", stdout);
    return fflush(stdout) != 0;
}
