#ifndef CIMCSYS_INTERNAL_H
#define CIMCSYS_INTERNAL_H
/// Writes `text` to the file `path` whole (a /proc file: uid_map, a sysctl). 0, or -1 with errno.
int imc_write_all(const char *path, const char *text);
#endif
