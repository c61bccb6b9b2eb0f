/* engine-main.c: dscoder-engine, the command line and the pipe service of the model runtime. */
int main(void) { return 0; }
