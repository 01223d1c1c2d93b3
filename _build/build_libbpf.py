"""cffi (out-of-line, API mode) builder for ``h7._libbpf``.

Only the libbpf calls H7 uses are declared: a thin, auditable surface.  The
C shim (_build/h7_shim.c) adds the batch ring-buffer drain and the log hook.
Build after ``make bpf`` (the skeleton header must exist in build/).
"""

from __future__ import annotations

import pathlib

from cffi import FFI

ROOT = pathlib.Path(__file__).resolve().parent.parent

CDEF = """
struct bpf_object;
struct bpf_program;
struct bpf_map;
struct bpf_link;
struct h7_rb;

struct bpf_object *bpf_object__open_mem(const void *obj_buf, size_t obj_buf_sz, void *opts);
int bpf_object__load(struct bpf_object *obj);
void bpf_object__close(struct bpf_object *obj);
struct bpf_program *bpf_object__next_program(const struct bpf_object *obj, struct bpf_program *prog);
struct bpf_map *bpf_object__next_map(const struct bpf_object *obj, const struct bpf_map *map);
struct bpf_map *bpf_object__find_map_by_name(const struct bpf_object *obj, const char *name);
struct bpf_program *bpf_object__find_program_by_name(const struct bpf_object *obj, const char *name);

const char *bpf_program__name(const struct bpf_program *prog);
const char *bpf_program__section_name(const struct bpf_program *prog);
bool bpf_program__autoload(const struct bpf_program *prog);
int bpf_program__set_autoload(struct bpf_program *prog, bool autoload);
int bpf_program__fd(const struct bpf_program *prog);
struct bpf_link *bpf_program__attach(const struct bpf_program *prog);
struct bpf_link *bpf_program__attach_cgroup(const struct bpf_program *prog, int cgroup_fd);
int bpf_link__destroy(struct bpf_link *link);

const char *bpf_map__name(const struct bpf_map *map);
int bpf_map__fd(const struct bpf_map *map);
int bpf_map__set_max_entries(struct bpf_map *map, uint32_t max_entries);
uint32_t bpf_map__max_entries(const struct bpf_map *map);
uint32_t bpf_map__key_size(const struct bpf_map *map);
uint32_t bpf_map__value_size(const struct bpf_map *map);

int bpf_map_lookup_elem(int fd, const void *key, void *value);
int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags);
int bpf_map_delete_elem(int fd, const void *key);
int bpf_map_get_next_key(int fd, const void *key, void *next_key);

int libbpf_num_possible_cpus(void);
int libbpf_strerror(int err, char *buf, size_t size);
int h7_probe_btf_prog(int lsm);

const void *h7_elf_bytes(size_t *sz);
int h7_ring_open(int map_fd, struct h7_rb **out);
void h7_ring_close(struct h7_rb *r);
uint64_t h7_ring_pending(struct h7_rb *r);
size_t h7_ring_drain(struct h7_rb *r, void *out, size_t stride, size_t min, size_t max, uint64_t *bad);
void h7_capture_libbpf_log(int enable);

extern "Python" void h7_py_log(int level, const char *msg);
"""

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "h7._libbpf",
    (ROOT / "_build" / "h7_shim.c").read_text(),
    libraries=["bpf", "elf", "z"],
    include_dirs=[str(ROOT / "bpf"), str(ROOT / "build")],
    extra_compile_args=["-O2", "-Wall", "-Wno-unused-function"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
