// SPDX-License-Identifier: BSD-3-Clause
/*
 * Replays a fuzz corpus through its harness without libFuzzer (as systemd's
 * fuzz-main.c does), so `make test` re-runs every input and every crash
 * ever found: replay DIR... Prints one line per directory.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	if (!f)
		return -1;
	if (fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0 ||
	    !(buf = malloc(n ? n : 1)) || fread(buf, 1, n, f) != (size_t)n) {
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	char path[4096];
	struct dirent *d;
	int i, n, bad = 0;
	DIR *dp;

	for (i = 1; i < argc; i++) {
		dp = opendir(argv[i]);
		if (!dp) {
			perror(argv[i]);
			return 1;
		}
		n = 0;
		while ((d = readdir(dp))) {
			if (d->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i], d->d_name);
			if (replay_file(path) < 0) {
				fprintf(stderr, "replay: cannot read %s\n", path);
				bad++;
			}
			n++;
		}
		closedir(dp);
		printf("replayed %d inputs of %s\n", n, argv[i]);
	}
	return bad != 0;
}
