# The one server: the benchmark's sshd on 127.0.0.1 (port and user in config/deploy.rb).
server "127.0.0.1", roles: %w[app]
