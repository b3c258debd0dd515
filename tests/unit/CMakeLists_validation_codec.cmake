# Unit tests of libs/validation and libs/codec. Included from tests/CMakeLists.txt; paths are
# relative to this file so that it does not depend on the includer's directory.
include(GoogleTest)

add_executable(relais_validation_test ${CMAKE_CURRENT_LIST_DIR}/validation_test.cpp ${CMAKE_CURRENT_LIST_DIR}/text_test.cpp
                                      ${CMAKE_CURRENT_LIST_DIR}/date_test.cpp
                                      ${CMAKE_CURRENT_LIST_DIR}/source_codes_test.cpp)
target_link_libraries(relais_validation_test PRIVATE relais::validation GTest::gtest_main)
relais_defaults(relais_validation_test)
gtest_discover_tests(relais_validation_test PROPERTIES LABELS unit)

add_executable(relais_codec_test ${CMAKE_CURRENT_LIST_DIR}/codec_test.cpp)
target_link_libraries(relais_codec_test PRIVATE relais::codec GTest::gtest_main)
relais_defaults(relais_codec_test)
gtest_discover_tests(relais_codec_test PROPERTIES LABELS unit)
