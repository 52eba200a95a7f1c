# The Capistrano project of bench/capistrano/compare.py: a plain git deploy, no build step, keep 5.
# Every machine-specific value comes from the environment the benchmark sets (BENCH_*), so these
# files are committed as they are and nothing is written here (logs and temp files go to the
# benchmark's temporary directory).
lock "~> 3.17"

set :application, "releases-bench"
set :repo_url, ENV.fetch("BENCH_REPO_URL")
set :branch, "main"
set :deploy_to, ENV.fetch("BENCH_CAP_ROOT")
set :keep_releases, 5
set :tmp_dir, ENV.fetch("BENCH_CAP_TMP")
set :format_options, log_file: ENV.fetch("BENCH_CAP_LOG")

# Only the throwaway key, host key and port of the benchmark's own sshd: `config: false` keeps
# net-ssh away from ~/.ssh/config and /etc/ssh/ssh_config, the agent is not asked, and the host
# key must match the one in the benchmark's known_hosts file.
set :ssh_options, {
  config: false,
  port: Integer(ENV.fetch("BENCH_SSH_PORT")),
  user: ENV.fetch("BENCH_SSH_USER"),
  keys: [ENV.fetch("BENCH_SSH_KEY")],
  keys_only: true,
  use_agent: false,
  auth_methods: %w[publickey],
  user_known_hosts_file: ENV.fetch("BENCH_KNOWN_HOSTS"),
  global_known_hosts_file: File::NULL,
  verify_host_key: :always,
}
