// relaisctl's labels for people in French, Dutch, German or English (issue 16, "Languages";
// docs/relaisctl.md "Languages"): the language chosen by --lang, else the setting ctl.lang
// (RELAIS_CTL_LANG), else English; the labels come from libs/labels (alert types, error codes)
// and the reaction code list (deploy/rules/reaction-codes.yaml). Codes are never translated:
// a label is printed next to its code, so scripts keep reading the codes. Pure.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "relais/alerts/backlog.hpp"
#include "relais/ctl/queries.hpp"
#include "relais/labels/labels.hpp"

namespace relais::ctl {

// `flag` (--lang) when given, else `setting` (ctl.lang); nullopt when the one used is not one
// of fr, nl, de, en.
std::optional<labels::Lang> choose_lang(const std::optional<std::string>& flag,
                                        const std::string& setting);

// The label of an alert type (an early signal's rule alert or an SPP IS clignotant type:
// data/labels/labels.yaml alert_types); the type itself when it has none.
std::string alert_type_label(std::string_view type, labels::Lang lang);

// An error for people: in English its message as the source wrote it; in another language the
// label of its code (data/labels/labels.yaml errors), or the English message when the code has
// none.
std::string error_text(std::string_view code, std::string_view english, labels::Lang lang);

// Inserts the column `label_column` right after `code_column`, label_of(code) in each row (null
// where the code is null). No such column: unchanged.
void add_label_column(Rows& rows, std::string_view code_column, const std::string& label_column,
                      const std::function<std::string(const std::string&)>& label_of);

// relaisctl alerts backlog: alerts::backlog_json plus "lang", "type_labels" ({type: label} for
// every type of the report) and "type_label" in each clignotant of the reminder list;
// alerts::backlog_csv plus a last column type_label.
std::string backlog_json_for_people(const alerts::Backlog& b, labels::Lang lang);
std::string backlog_csv_for_people(const alerts::Backlog& b, labels::Lang lang);

}  // namespace relais::ctl
