# End-to-end tier: pytest against the real binaries of this build, a real
# PostgreSQL and a real Kafka (the stack named by RELAIS_TEST_PG_DSN and
# RELAIS_TEST_KAFKA, exported by scripts/run-tests.sh). One CTest test per
# pytest file; they share the stack, so they run one at a time. Without the
# stack they fail (never skip).
set(RELAIS_E2E_PYTHON ${CMAKE_SOURCE_DIR}/var/venv/bin/python)
foreach(name routing_10k crash idempotency bad_input hostile_input directory_latency dlq shutdown clignotants reactions sppis_transport languages status_page openapi prometheus relaisctl kafka_acls db_outage replacements cpas_identity
             ticket_reuse router_restart source_codes ingest_file ingest_xml_batch ingest_spool soap xsd_swap manage_access manage_access_tls
             subscribers subscribers_guide sppis_clignotants subscriber_replay status_cpas kafka_mtls)
  add_test(NAME e2e_${name}
           COMMAND ${RELAIS_E2E_PYTHON} -m pytest -q -s -p no:cacheprovider
                   ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_${name}.py)
  set_tests_properties(e2e_${name} PROPERTIES LABELS e2e TIMEOUT 900 RUN_SERIAL TRUE
                       ENVIRONMENT "RELAIS_BUILD_DIR=${CMAKE_BINARY_DIR};PYTHONDONTWRITEBYTECODE=1")
endforeach()
# relais-api authentication, authorisation and access journal (docs/security.md).
add_test(NAME e2e_access COMMAND ${RELAIS_E2E_PYTHON} -m pytest -q -s -p no:cacheprovider
         ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_access.py)
set_tests_properties(e2e_access PROPERTIES LABELS e2e TIMEOUT 900 RUN_SERIAL TRUE
                     ENVIRONMENT "RELAIS_BUILD_DIR=${CMAKE_BINARY_DIR};PYTHONDONTWRITEBYTECODE=1")
# relais-ingest over TLS with client certificates, and the HTTP limits (docs/security.md).
add_test(NAME e2e_tls COMMAND ${RELAIS_E2E_PYTHON} -m pytest -q -s -p no:cacheprovider
         ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_tls.py)
set_tests_properties(e2e_tls PROPERTIES LABELS e2e TIMEOUT 900 RUN_SERIAL TRUE
                     ENVIRONMENT "RELAIS_BUILD_DIR=${CMAKE_BINARY_DIR};PYTHONDONTWRITEBYTECODE=1")
