// relaisctl: the operator's command-line tool. All logic lives in libs/ctl.
#include <iostream>

#include "relais/ctl/cli.hpp"

extern char** environ;

int main(int argc, char** argv) {
  return relais::ctl::run(argc, argv, environ, std::cout, std::cerr);
}
