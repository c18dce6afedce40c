#pragma once

// A file that breaks the layering on purpose: pure logic including the
// config. The `layering_refuses` test runs cmake/check_layering.cmake on
// this folder and expects it to fail.

#include "config/node_config.hpp"
