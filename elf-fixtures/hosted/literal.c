/* A write to a string literal, as a new C programmer makes it: the crash
 * report must name the section readelf puts the address in (.rodata),
 * not the one that fills most of its page. Dynamic, -O0, as gcc builds
 * it by default. */
int main(void)
{
    char *s = "hello";
    s[0] = 'H';
    return s[0];
}
