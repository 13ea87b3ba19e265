import streamlit as st

st.title("Calculator")
st.info("This page is being built.")
