# relais::http unit tests (in-process server on an ephemeral loopback port). Included from
# tests/CMakeLists.txt.
add_executable(http_test ${CMAKE_CURRENT_LIST_DIR}/http_test.cpp)
target_link_libraries(http_test PRIVATE relais::http GTest::gtest_main)
relais_defaults(http_test)
include(GoogleTest)
gtest_discover_tests(http_test PROPERTIES LABELS unit)

# TLS: certificates made with openssl at test time (tests/tls/make-certs.sh), so labelled integration.
add_executable(http_tls_test ${CMAKE_CURRENT_LIST_DIR}/http_tls_test.cpp)
target_link_libraries(http_tls_test PRIVATE relais::http GTest::gtest_main)
target_compile_definitions(http_tls_test PRIVATE RELAIS_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
relais_defaults(http_tls_test)
gtest_discover_tests(http_tls_test PROPERTIES LABELS integration)
