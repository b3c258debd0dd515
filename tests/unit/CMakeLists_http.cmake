# relais::http unit tests (in-process server on an ephemeral loopback port). Included from
# tests/CMakeLists.txt.
add_executable(http_test ${CMAKE_CURRENT_LIST_DIR}/http_test.cpp)
target_link_libraries(http_test PRIVATE relais::http GTest::gtest_main)
relais_defaults(http_test)
include(GoogleTest)
gtest_discover_tests(http_test PROPERTIES LABELS unit)
