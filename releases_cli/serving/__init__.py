"""Serving: how releases take traffic. strategy.py states the interface; reload.py and
bgstrategy.py implement it (with restart/health, and PM2 + nginx + ports + the serve state
for blue-green); strategies.py picks one from `[serve] mode`."""
