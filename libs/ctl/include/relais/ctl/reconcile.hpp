// relaisctl directory reconcile: the mirror of one CPAS (its integrations, read through
// relais-api) compared with a ManageAccess LIST export (libs/manageaccess: the ManageAccessReply
// of LIST calls, or the CSV form); each difference reported, and with `apply` repaired through
// relais-api's PUT /v1/cpas/{cbe}/integrations (journaled in directory_journal and the access
// journal, actor ctl.actor).
#pragma once

#include <set>
#include <string>
#include <vector>

#include "relais/ctl/settings.hpp"
#include "relais/manageaccess/manageaccess.hpp"

namespace relais::ctl {

struct ReconcileOptions {
  std::string cbe;
  std::string file;
  bool apply = false;
  std::string xsd_dir = "var/bcss/cbss/XSD";  // validates an XML export against the public XSD
  std::set<std::string> org_units;  // OrgUnit values of this CPAS in the export (its CBE added)
};

struct ReconcileReport {
  std::size_t mirror_lines = 0, export_lines = 0;
  std::vector<manageaccess::Difference> differences;
  std::size_t repaired = 0;  // repairs written (apply)
  std::string error;         // a repair that failed: the run stopped there (the ones before are in)
};

// Throws std::invalid_argument on a bad file or option, std::runtime_error when relais-api
// cannot be read.
ReconcileReport reconcile(const Settings& s, const ReconcileOptions& o);

}  // namespace relais::ctl
