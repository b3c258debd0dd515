# The integration tier: GoogleTest programs against the real PostgreSQL and
# Kafka of a local stack (scripts/run-tests.sh starts it and sets
# RELAIS_TEST_PG_DSN and RELAIS_TEST_KAFKA; without them every test fails).
# Included from tests/CMakeLists.txt.
include(GoogleTest)

function(relais_integration_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_include_directories(${name} PRIVATE ${RELAIS_ITEST_DIR})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} relais::kafka relais::pg relais::http GTest::gtest_main)
  relais_defaults(${name})
  gtest_discover_tests(${name} PROPERTIES LABELS integration TIMEOUT 180)
endfunction()

set(RELAIS_ITEST_DIR ${CMAKE_CURRENT_LIST_DIR})
relais_integration_test(relais_itest_directory
  SOURCES ${RELAIS_ITEST_DIR}/directory_test.cpp
  DEPS relais::router relais::directory)
relais_integration_test(relais_itest_journal
  SOURCES ${RELAIS_ITEST_DIR}/journal_sink_test.cpp
  DEPS relais::router relais::proto)
relais_integration_test(relais_itest_ingest
  SOURCES ${RELAIS_ITEST_DIR}/ingest_test.cpp
  DEPS relais::ingest relais::codec relais::proto Boost::json)
relais_integration_test(relais_itest_api
  SOURCES ${RELAIS_ITEST_DIR}/api_test.cpp
  DEPS relais::api Boost::json)
relais_integration_test(relais_itest_router
  SOURCES ${RELAIS_ITEST_DIR}/engine_test.cpp
  DEPS relais::router relais::api relais::codec relais::proto)
target_compile_definitions(relais_itest_router PRIVATE RELAIS_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
relais_integration_test(relais_itest_alerts
  SOURCES ${RELAIS_ITEST_DIR}/alerts_test.cpp
  DEPS relais::api relais::outbox relais::alerts relais::proto Boost::json)
target_compile_definitions(relais_itest_alerts PRIVATE RELAIS_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
relais_integration_test(relais_itest_ctl
  SOURCES ${RELAIS_ITEST_DIR}/ctl_test.cpp
  DEPS relais::ctl relais::proto)
relais_integration_test(relais_itest_auth
  SOURCES ${RELAIS_ITEST_DIR}/auth_test.cpp
  DEPS relais::api relais::auth Boost::json)
