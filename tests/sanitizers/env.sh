# Sourced by scripts/run-tests.sh when the build under test is the ASan+UBSan one
# (RELAIS_SANITIZE=ON, `make test-asan`): the options every instrumented process of the test
# tiers runs with (the GoogleTest programs, and the services the e2e harness starts, which
# inherit this environment). A report makes the process exit non-zero (ASan, LSan at exit) or
# abort at once (UBSan, halt_on_error=1); the e2e tier also fails on any report in a service
# log (tests/e2e/conftest.py). Suppressions: lsan.supp and ubsan.supp next to this file.
_relais_supp_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export ASAN_OPTIONS="detect_leaks=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=0:halt_on_error=1:print_summary=1"
export LSAN_OPTIONS="suppressions=$_relais_supp_dir/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:print_summary=1:suppressions=$_relais_supp_dir/ubsan.supp"
unset _relais_supp_dir
