"""_limits"""
