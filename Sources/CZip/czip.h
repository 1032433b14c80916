#pragma once
// libzip for update archives. Raspbian Buster has libzip4 1.5.1: use only
// functions that version has (cross/buster-check.py proves it). Extraction's
// file calls are CShims' descriptor-relative ones (privsep.c).
#include <zip.h>
