import TinyAgent
