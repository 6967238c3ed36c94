"""govshare: government data sharing platform (政务数据共享平台)."""

__version__ = "0.1.0"
