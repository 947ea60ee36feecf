#ifdef __cplusplus
extern "C" {
#endif
void affect_cv_set_num_threads(int n);
int affect_cv_get_num_threads(void);
void affect_cv_quiet_log(void);
#ifdef __cplusplus
}
#endif
