# H7 build. `make test` and `make demo` do all set-up on a fresh Debian 12 machine (as root).
SHELL := /bin/bash
PYTHON ?= /usr/bin/python3
VENV ?= .venv
VPY := $(VENV)/bin/python
BUILD := build
CLANG ?= clang
BPFTOOL ?= bpftool
ARCH := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
APT_PACKAGES := clang llvm gcc make libbpf-dev bpftool libelf-dev zlib1g-dev linux-libc-dev pkg-config \
	python3-dev python3-venv openssl tmux dtach e2fsprogs util-linux socat nftables
BPF_SRC := bpf/h7.bpf.c
BPF_HDR := bpf/h7.h
BPF_OBJ := $(BUILD)/h7.bpf.o
SKEL := $(BUILD)/h7.skel.h
VMLINUX := $(BUILD)/vmlinux.h
EXT_STAMP := $(BUILD)/.ext-stamp
PYTEST_ARGS ?=

.PHONY: all deps venv bpf ext build test demo bench lint clean distclean

all: build

# --- system packages (idempotent; only runs apt-get when something is missing)
$(BUILD)/.deps-stamp:
	@mkdir -p $(BUILD)
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then echo "h7: need root to install: $$missing" >&2; exit 2; fi; \
		echo "apt-get install $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@touch $@
deps: $(BUILD)/.deps-stamp

# --- Python virtualenv with the runtime and dev dependencies
$(VENV)/.stamp: pyproject.toml | $(BUILD)/.deps-stamp
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip setuptools wheel
	$(VPY) -m pip install -q "cffi>=1.15" "numpy>=1.24" "scipy>=1.10" "msgpack>=1.0.3" \
		"cryptography>=38" "click>=8.1" "pytest>=7" "hypothesis>=6" "ruff>=0.4" "mypy>=1.8"
	@touch $@
venv: $(VENV)/.stamp

# --- BPF: vmlinux.h from the running kernel's BTF (CO-RE makes it portable), object, skeleton
$(VMLINUX): | $(BUILD)/.deps-stamp
	@mkdir -p $(BUILD)
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(BPF_OBJ): $(BPF_SRC) $(BPF_HDR) $(VMLINUX)
	$(CLANG) -g -O2 -Wall -Werror -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) \
		-I$(BUILD) -Ibpf -c $(BPF_SRC) -o $@.tmp.o
	$(BPFTOOL) gen object $@ $@.tmp.o
	@rm -f $@.tmp.o

$(SKEL): $(BPF_OBJ)
	$(BPFTOOL) gen skeleton $< name h7_bpf > $@.tmp && mv $@.tmp $@

bpf: $(SKEL)

# --- cffi extension (embeds the skeleton, links the system libbpf)
$(EXT_STAMP): $(SKEL) _build/build_libbpf.py _build/h7_shim.c $(BPF_HDR) $(VENV)/.stamp
	$(VPY) -m pip install -q --no-build-isolation -e .
	$(VPY) setup.py -q build_ext --inplace
	@touch $@
ext: $(EXT_STAMP)

build: ext

test: build
	@mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
	$(VPY) -m pytest $(PYTEST_ARGS)

demo: build
	$(VENV)/bin/h7 demo

# bench helpers: an empty sys_enter program (the hook's floor cost) and a C syscall loop
$(BUILD)/bench_null.bpf.o: bench/null.bpf.c $(VMLINUX)
	$(CLANG) -g -O2 -Wall -Werror -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -I$(BUILD) -c $< -o $@
$(BUILD)/syscall_loop: bench/syscall_loop.c
	$(CC) -O2 -Wall -Werror -o $@ $<

$(BUILD)/hook_loop: bench/hook_loop.c tests/native/uring_ring.h
	$(CC) -O2 -Wall -Werror -pthread -Itests/native -o $@ $<

# bench/hook_cost.py's reference: H7's BPF object as it was before issue 13's hooks (the last
# session-2 kernel change), to tell whether an unwatched process's syscalls got dearer since.
# Needs the commit in the clone; without it the section runs without the reference and says so.
BENCH_REF := f3c8af3
$(BUILD)/bench_ref.bpf.o: $(VMLINUX)
	@mkdir -p $(BUILD)/bench_ref
	@if git cat-file -e $(BENCH_REF):bpf/h7.bpf.c 2>/dev/null; then \
		git show $(BENCH_REF):bpf/h7.bpf.c > $(BUILD)/bench_ref/h7.bpf.c && \
		git show $(BENCH_REF):bpf/h7.h > $(BUILD)/bench_ref/h7.h && \
		$(CLANG) -g -O2 -Wall -Werror -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -I$(BUILD) \
			-c $(BUILD)/bench_ref/h7.bpf.c -o $@; \
	else echo "bench: commit $(BENCH_REF) not in this clone: hook_cost runs without its reference"; fi

bench: build $(BUILD)/bench_null.bpf.o $(BUILD)/syscall_loop $(BUILD)/hook_loop $(BUILD)/bench_ref.bpf.o
	@command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null; }
	$(VPY) -m bench $(if $(QUICK),--quick,)

lint: venv
	$(VENV)/bin/ruff check h7 tests _build bench eval redteam vmtest setup.py
	$(VENV)/bin/ruff format --check h7 tests _build bench eval redteam vmtest setup.py
	$(VENV)/bin/mypy

clean:
	rm -rf $(BUILD) h7/_libbpf*.so h7/_libbpf.c *.egg-info

distclean: clean
	rm -rf $(VENV)

# --- Debian package and kernel matrix (issue 7; see docs/packaging.md, docs/kernels.md)
.PHONY: deb deb-test vmtest vmtest-quick ci-extra
deb:
	packaging/build-deb.sh

deb-test:
	@test -f dist/h7_$$(dpkg-parsechangelog -S Version)_amd64.deb || $(MAKE) deb
	@[ $$(dpkg-query -W -f='$${Status}\n' debootstrap python3-pytest 2>/dev/null | grep -c 'install ok installed') = 2 ] || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap python3-pytest >/dev/null; }
	H7_TEST_DEB=1 /usr/bin/python3 -m pytest -p no:cacheprovider -v tests/test_deb.py

vmtest: build
	vmtest/run.py $(if $(KERNELS),--kernels $(KERNELS),)

vmtest-quick: build
	vmtest/run.py --kernels 6.1,newest --parallel 2

ci-extra: build
	vmtest/ci.sh

# --- `make eval` (issue 12; docs/evaluation.md): six real agent stacks, each baselined, soaked
# (10 min; QUICK=1: 2 min) and attacked through its own tools.  Not part of `make test`.
# EVAL_STACKS=... runs a subset (one at a time: the machine has 2 cores; spaces or commas).
# Each run's full journal (h7 attach --journal) goes to $(EVAL_JOURNALS)/<commit>/<stack>.h7j, outside git.
.PHONY: eval
EVAL_STACKS ?=
EVAL_JOURNALS ?= /var/tmp/h7-eval-journals
eval: build
	eval/install.sh
	@mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
	rc=0; $(VPY) eval/harness.py --soak $(if $(QUICK),120,600) --journal-dir "$(EVAL_JOURNALS)" $(EVAL_STACKS) || rc=$$?; \
	if [ $$rc -gt 1 ]; then echo "eval: harness did not finish (status $$rc): no report written" >&2; exit $$rc; fi; \
	eval/.envs/tools/bin/python eval/report.py --mode $(if $(QUICK),QUICK,full) --stacks "$(EVAL_STACKS)" && exit $$rc

# --- red-team suite (issue 13): every variant against a live sensor, table + redteam/results/latest.json.
# The daemons gap 5 hands commands to, and what the variants copy or compile; --no-install-recommends keeps
# `at` from pulling in a mail server.  REDTEAM_ARGS e.g. "--only g1_udp_sendto --baseline 10".
.PHONY: redteam redteam-deps
REDTEAM_APT := tmux screen at dtach socat busybox-static gcc libc6-dev util-linux perl make git iproute2 procps openssl strace gdb binutils curl coreutils universal-ctags jq patch cmake file nftables e2fsprogs xz-utils
REDTEAM_ARGS ?=
# The guests of redteam-vmtest run the host's root over 9p: they need the same tools installed here.
redteam-deps:
	@missing=$$(for p in $(REDTEAM_APT); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if ! command -v node >/dev/null; then missing="$$missing nodejs"; fi; \
	if ! command -v npm >/dev/null; then missing="$$missing npm"; fi; \
	if [ -n "$$(echo $$missing)" ]; then \
		if [ "$$(id -u)" != 0 ]; then echo "h7: need root to install: $$missing" >&2; exit 2; fi; \
		echo "apt-get install $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

redteam: build redteam-deps
	@mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
	$(VPY) -m redteam.harness $(REDTEAM_ARGS)

# the same suite inside vmtest guests (fentry mode there); CPU-heavy: one guest at a time.
# CPUS (default 2) = guest vCPUs; REDTEAM_TAG names the results file redteam/results/<mode>-<kernel>-<tag>.json
# (without it <mode>-<kernel>.json, the kept whole-suite figure, is replaced).
.PHONY: redteam-vmtest
redteam-vmtest: build redteam-deps
	vmtest/redteam.py --kernels $(or $(KERNELS),newest) $(if $(CPUS),--cpus $(CPUS),) \
		$(if $(REDTEAM_TAG),--tag $(REDTEAM_TAG),) $(if $(REDTEAM_ARGS),-- $(REDTEAM_ARGS),)
