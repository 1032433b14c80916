#include "ctls.h"
int ta_tls_placeholder(void) { return 0; }
